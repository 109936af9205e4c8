// swapLeftOver: a rebuild started again after its checkpoint said complete. A copy that is not
// there (nothing to swap) was swapped by that run; any other missing target is a failed swap.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HydratorError } from '../../lib/errors.js'
import { nothingToSwap, swapLeftOver } from '../../lib/rebuild.js'
import type { RunReport } from '../../lib/report/schema.js'
import type { SinkRebuild } from '../../lib/types.js'

const test = suite('--rebuild: the swap left over')
const report = { status: 'ok' } as RunReport
const rebuildThat = (error: unknown): SinkRebuild => ({ live: 'public.users', table: 'public.users__rebuild_1', swap: () => Promise.reject(error) })

test('a copy that is not there: the run that completed swapped it', async () => {
  const done = await swapLeftOver(report, rebuildThat(nothingToSwap('the rebuild table does not exist; nothing was swapped')))
  assert.is(done.status, 'ok')
  assert.is(done.rebuild!.state, 'swapped')
  assert.match(done.rebuild!.message, /nothing left to swap/)
})

test('the live table gone (another ERR_TARGET_NOT_FOUND) is a failed swap, not a done one', async () => {
  const failed = await swapLeftOver(report, rebuildThat(new HydratorError('ERR_TARGET_NOT_FOUND', 'the live table `public.users` is gone; nothing was swapped')))
  assert.is(failed.status, 'failed')
  assert.is(failed.error!.code, 'ERR_TARGET_NOT_FOUND')
  assert.is(failed.rebuild!.state, 'pending')
})

test.run()
