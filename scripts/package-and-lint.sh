#!/usr/bin/env bash
# Packages the service the way a deployment would (CloudFormation template and one zip per
# function in .serverless/), then lints the template with cfn-lint. Offline: packaging makes
# no AWS call, and to prove it the AWS SDK gets no credentials, no profile and no instance
# metadata service here, so a configuration that started to resolve something against AWS
# (an ${aws:...}, ${ssm:...} or ${cf:...} variable) fails this script instead of quietly
# reaching whatever account the machine can reach.
set -euo pipefail

cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.."

CFN_LINT=.cache/venv/bin/cfn-lint
# Where the package goes: .serverless, as `serverless deploy --package` expects it, unless
# PACKAGE_DIR names another (the tests do: other packagings may clear .serverless meanwhile).
PACKAGE_DIR=${PACKAGE_DIR:-.serverless}
TEMPLATE=$PACKAGE_DIR/cloudformation-template-update-stack.json

if [[ ! -x $CFN_LINT ]]; then
  echo "package-and-lint: $CFN_LINT is missing; scripts/setup.sh installs it" >&2
  exit 1
fi

export SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off
export AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE \
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN

# One packaging at a time in this checkout: the framework and its esbuild plugin share work
# folders, and the local factory packages too (local/factory-resources.ts takes this lock).
mkdir -p .cache
exec 9>.cache/package.lock
flock 9

# A stale template or zip must not pass for this run's.
rm -rf -- "$PACKAGE_DIR"
started=$SECONDS
# --no-install: the framework comes from the lockfile, never from a download at package time.
npx --no-install serverless package --stage ci --region us-east-1 --package "$PACKAGE_DIR"
echo "package-and-lint: packaged in $((SECONDS - started)) s"

# Ignored rule, with its reason:
# - W3005 (redundant DependsOn): the framework adds `DependsOn: <role>` to each function next
#   to the `Fn::GetAtt: [<role>, Arn]` of its own `role:`. The duplicate is harmless and is
#   not in serverless.yml to remove.
# Errors and warnings fail the run; informational findings are not reported.
status=0
"$CFN_LINT" --ignore-checks W3005 -- "$TEMPLATE" "$PACKAGE_DIR/cloudformation-template-create-stack.json" || status=$?
# cfn-lint's exit status is a bit mask: 2 errors, 4 warnings, 8 informational, 1 a crash.
if (( status & (1 | 2 | 4) )); then
  echo "package-and-lint: cfn-lint found problems (exit status $status)" >&2
  exit 1
fi
echo "package-and-lint: cfn-lint passed ($TEMPLATE)"
