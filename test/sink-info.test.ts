// sinkInfo() gives back every capability withSinkInfo() set, for code that holds an untyped sink.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { sinkInfo, withSinkInfo } from '../lib/sink-info.js'
import { toJsonLines } from '../lib/json/write-lines.js'

const test = suite('sinkInfo')

test('every capability set is read back; unset and false ones are left out', () => {
  const sink = withSinkInfo(async () => ({}) as never, { uri: 'x:y', pacedPerSecond: 5, checkpointEveryBatch: false, writesRawText: true, textOnly: true })
  assert.equal(sinkInfo(sink), { uri: 'x:y', pacedPerSecond: 5, writesRawText: true, textOnly: true })
  assert.equal(sinkInfo(toJsonLines('out.ndjson')), { uri: 'ndjson:out.ndjson', writesRawText: true, textOnly: true })
  assert.equal(sinkInfo('not a sink'), {})
})

test.run()
