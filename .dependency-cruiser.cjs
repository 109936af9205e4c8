// The import rules of the house (see ../shared/HOUSE-STYLE.md), checked by test/house/dependencies.test.ts:
// integrations import the core, never each other; the core never imports an integration (only
// the two composition roots, lib/index.ts and lib/builtins.ts, name them); lib never imports cli;
// no cycles.
const INTEGRATIONS = '(json|postgres|mssql|dynamo|opensearch|lambda|eventbridge|s3|aws-lambda)'

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-imports-no-integration',
      comment: 'The core knows no integration: move the shared piece into the core, or the integration-specific one into its folder.',
      severity: 'error',
      from: { path: '^lib/', pathNot: [`^lib/${INTEGRATIONS}/`, '^lib/(index|builtins)\\.ts$'] },
      to: { path: `^lib/${INTEGRATIONS}/` },
    },
    {
      name: 'integrations-import-no-other-integration',
      comment: 'An integration imports the core only: what two integrations share belongs in the core.',
      severity: 'error',
      from: { path: `^lib/${INTEGRATIONS}/` },
      to: { path: `^lib/${INTEGRATIONS}/`, pathNot: '^lib/$1/' },
    },
    {
      name: 'lib-imports-no-cli',
      comment: 'The CLI is a thin front over the library, never the other way round.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^cli/' },
    },
    {
      name: 'no-cycles',
      comment: 'A cycle makes two modules one; split the shared part out.',
      severity: 'error',
      from: { path: '^(lib|cli)/' },
      to: { circular: true },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      from: { path: '^(lib|cli)/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // ESM packages (it-pipe) export only an `import` condition.
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], mainFields: ['module', 'main', 'types'] },
  },
}
