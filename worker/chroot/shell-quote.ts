/**
 * POSIX single-quoting. Packer's chroot communicator wraps commands in Go-quoted double
 * quotes, so `$VAR` in a provisioner command is expanded by the host's shell before it
 * reaches the chroot; single quotes keep every expansion for the shell inside the chroot.
 */
export const shellQuote = (value: string): string => `'${value.replaceAll("'", `'"'"'`)}'`;
