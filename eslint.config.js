import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // The policy engine is pure: no I/O and no imports from the rest of the project (DESIGN.md).
    files: ['src/policy/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['../*', '!../policy/*'], message: 'src/policy/ imports nothing from the rest of lockwarden.' },
          { group: ['node:fs', 'node:fs/*', 'fs', 'node:net', 'node:http', 'node:http2', 'node:child_process'], message: 'src/policy/ does no I/O.' },
        ],
      }],
    },
  },
);
