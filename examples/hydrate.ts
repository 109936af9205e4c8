// The main job from code: every OrderPlaced event of the example data into an NDJSON file, with the
// same options the CLI line takes (`npm run example`). Run it: npx tsx examples/hydrate.ts
import { formatReport, hydrate } from 'event-hydrator'

const report = await hydrate({
  source: 'json:examples/events/events.ndjson',
  filter: { source: ['orders'], 'detail-type': ['OrderPlaced'] },
  sink: 'ndjson:examples/out/orders-from-code.ndjson',
})
process.stderr.write(formatReport(report))
process.exitCode = report.status === 'ok' ? 0 : 1
