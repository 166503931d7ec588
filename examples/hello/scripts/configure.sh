#!/bin/sh
# Runs inside the chroot of the image being built, as root. The example's base image is
# busybox only: POSIX sh and busybox applets, no bash, no adduser.
set -eu

: "${GREETING:?GREETING must be set (template environment_vars)}"
: "${BUILD_LABEL:=local}"

echo "configure: running as $(id -un) (uid $(id -u)) in $(pwd)"

echo "hello-${BUILD_LABEL}" >/etc/hostname

# A login user to greet. Checked first so that running the script twice adds one entry.
if ! grep -q '^hello:' /etc/passwd; then
  echo 'hello:x:1000:1000:hello:/home/hello:/bin/sh' >>/etc/passwd
  echo 'hello:x:1000:' >>/etc/group
  echo 'hello:*:19000:0:99999:7:::' >>/etc/shadow
fi
mkdir -p /home/hello
chown 1000:1000 /home/hello
chmod 0750 /home/hello

# Login shells read /etc/profile; this one runs the snippets in /etc/profile.d, where
# the welcome text (uploaded by the next provisioner) is shown.
if [ ! -e /etc/profile ]; then
  cat >/etc/profile <<'PROFILE'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
for snippet in /etc/profile.d/*.sh; do
  [ -r "$snippet" ] && . "$snippet"
done
unset snippet
PROFILE
fi
mkdir -p /etc/profile.d
cat >/etc/profile.d/hello.sh <<'SNIPPET'
[ -r /etc/motd ] && cat /etc/motd
[ -r /etc/ami-factory/welcome.txt ] && cat /etc/ami-factory/welcome.txt
SNIPPET

# What the build saw, for whoever boots the image.
mkdir -p /etc/ami-factory
cat >/etc/ami-factory/build.env <<ENV
BUILD_LABEL=${BUILD_LABEL}
BUILDER_TYPE=${PACKER_BUILDER_TYPE:-unknown}
BUILT_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ENV

echo "configure: greeting is '${GREETING}'"
