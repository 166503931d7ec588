/**
 * Packer's AccessConfig options that a factory must not honour. The factory acts with its
 * own IAM roles; a request that carried credentials, or chose where they come from or which
 * endpoint receives them, could act as someone else or send them somewhere else.
 */
import { boolean } from './coerce.ts';
import { isUnset } from './fields.ts';

const CREDENTIALS_REASON =
  'the factory uses its own IAM roles and requests must not carry credentials or choose how they are obtained: remove this option';

export const REFUSED_OPTIONS: Readonly<Record<string, string>> = {
  access_key: CREDENTIALS_REASON,
  secret_key: CREDENTIALS_REASON,
  token: CREDENTIALS_REASON,
  profile: CREDENTIALS_REASON,
  shared_credentials_file: CREDENTIALS_REASON,
  assume_role: CREDENTIALS_REASON,
  vault_aws_engine: CREDENTIALS_REASON,
  mfa_code: CREDENTIALS_REASON,
  custom_endpoint_ec2: CREDENTIALS_REASON,
  insecure_skip_tls_verify: 'the factory always verifies TLS: remove this option',
};

/**
 * Accepted so Packer templates load unchanged, then dropped: each only tunes how Packer
 * itself checks or reports credentials, which the factory does its own way.
 */
export const IGNORED_OPTIONS = {
  skip_metadata_api_check: boolean(),
  skip_credential_validation: boolean(),
  decode_authorization_messages: boolean(),
};

/** Empty values (`""`, false, `{}`, `{"role_arn": ""}`) are what templates write to mean "not set". */
export function isEmptyOptionValue(value: unknown): boolean {
  if (isUnset(value) || value === false) return true;
  if (Array.isArray(value)) return value.every(isEmptyOptionValue);
  if (typeof value === 'object' && value !== null) return Object.values(value).every(isEmptyOptionValue);
  return false;
}
