// Lint runs in the test command: typed rules catch the promise and `any` slips that
// block-device code cannot afford (an un-awaited unmount is a leaked mount).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', '.cache/**', '.serverless/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // What the Lambda bundles import: zod's `z` object, imported by name, carries all of zod
    // (its locales, JSON Schema conversions) into every bundle, where `import * as z` lets
    // esbuild keep only what is used (~570 KB a function).
    files: ['functions/**/*.ts', 'contract/**/*.ts', 'model/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', {
        selector: "ImportDeclaration[source.value='zod'][importKind='value'] > ImportSpecifier[imported.name='z'][importKind='value']",
        message: "import * as z from 'zod': the named `z` keeps all of zod in a Lambda bundle.",
      }],
    },
  },
  { files: ['**/*.js'], extends: [tseslint.configs.disableTypeChecked] },
);
