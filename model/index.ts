/**
 * The request model: Packer `amazon-chroot` templates in, validated BuildRequests out.
 * Shared by the factory's functions, the chroot hosts and the CLI.
 */
export type * from './types.ts';
export { loadTemplateFile, parseTemplate } from './load.ts';
export type { LoadOptions, ParseOptions } from './load.ts';
export { TemplateValidationError } from './errors.ts';
export { renderBuildData, renderHostTemplate } from './template/host.ts';
export { buildDataFields } from './template/host-fields.ts';
export { TemplateError } from './template/engine.ts';
export { maskSensitive, maskSensitiveDeep, SENSITIVE_PLACEHOLDER } from './mask.ts';
export { loadVarFile, parseVarFile } from './var-file.ts';
export { DEFAULT_CHROOT_MOUNTS, DEFAULT_COMMAND_WRAPPER, DEFAULT_MOUNT_PATH, DEFAULT_MOUNT_ROOT } from './builder.ts';
export { DEFAULT_EXECUTE_COMMAND, DEFAULT_INLINE_SHEBANG, DEFAULT_REMOTE_FOLDER, SUPPORTED_PROVISIONERS } from './provisioners.ts';
