import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['node_modules/**', 'data/**', 'test/.artifacts/**', 'bench/results/**']
  }),
  {
    rules: {
      // `${NAME}` in a plain string is the config file's interpolation syntax, written on purpose.
      'no-template-curly-in-string': 'off',
      // `void promise` marks a promise deliberately not awaited (Fastify's reply methods, fire-and-forget).
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
