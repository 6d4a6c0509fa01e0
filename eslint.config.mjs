import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.sluice/', 'coverage/', 'scratch/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { disallowTypeAnnotations: false, fixStyle: 'inline-type-imports' },
      ],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // The engine knows nothing of GraphQL (DESIGN §2): it is driven through services and ports.
    files: ['src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                'graphql',
                'graphql/*',
                'type-graphql',
                '@apollo/*',
                'graphql-ws',
                'graphql-ws/*',
                'graphql-scalars',
              ],
              message: 'src/engine must not depend on GraphQL.',
            },
            {
              group: ['**/graphql/**', '**/*.resolver', '**/*.types', '**/*.inputs'],
              message: 'src/engine must not import the GraphQL layer.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['bin/**/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', process: 'readonly', __dirname: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
