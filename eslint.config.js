import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['node_modules/', 'voicepacks/', 'vendor/', 'dist/', 'coverage/', 'artifacts/', '.scratch/', 'clients/web/dist/', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    // The browser client runs in the page (and its AudioWorklets), not in Node.
    files: ['clients/web/src/**/*.ts'],
    languageOptions: { globals: { ...globals.browser } },
  },
);
