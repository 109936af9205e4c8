// An event-hydrator plugin: URI schemes mapped to factories, nothing else. This one adds a `count:`
// sink that counts events per detail-type and prints the table to stderr at the end.
//
//   npx hydrate --plugin ./examples/plugin/memory-plugin.mjs --source json:./examples/events/events.ndjson --sink count:
//
// A sink is `(events, context) => Promise<SinkResult>`. `context` (from run()) asks for a dry run
// and holds live counters (`context.tally`) so a report can be made even if the sink throws.
// Real sinks use `defineSink` from 'event-hydrator', which does this bookkeeping, batching and
// previews for you; this one is written out by hand to show the whole contract.
export default {
  name: 'count',
  sinks: {
    count: (uri) =>
      async function countSink(events, context = {}) {
        const tally = context.tally ?? { received: 0, written: 0, skipped: 0, failed: 0, retries: {} }
        const counts = new Map()
        for await (const event of events) {
          tally.received++
          counts.set(event['detail-type'], (counts.get(event['detail-type']) ?? 0) + 1)
          tally.written++
          if (context.signal?.aborted) break
        }
        for (const [type, n] of [...counts].sort()) process.stderr.write(`${type}\t${n}\n`)
        return {
          uri: uri.uri,
          dryRun: Boolean(context.dryRun),
          received: tally.received,
          written: tally.written,
          skipped: 0,
          failed: 0,
          failures: [],
          previews: [],
          retries: {},
        }
      },
  },
}
