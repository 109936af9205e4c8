// The function of template.yaml: one Lambda handler for the three steps of state-machine.asl.json
// (plan the shares, run one share until done or out of time, merge the reports). `sam build`
// bundles this file into one handler.mjs. The tables come from the template's environment; a run's
// checkpoints are keyed by its runId (the execution's name, unless the execution's input gives one).
import { createHydrationHandler } from 'event-hydrator/aws-lambda'

const { SOURCE_TABLE, TARGET_TABLE, CHECKPOINT_TABLE, FILTER_PATTERN, SAFETY_MARGIN_MS } = process.env

export const handler = createHydrationHandler((input) => ({
  source: `dynamo:${SOURCE_TABLE}`,
  sink: `dynamo:${TARGET_TABLE}`,
  checkpoint: `dynamo:${CHECKPOINT_TABLE}/${typeof input.runId === 'string' ? input.runId : 'backfill'}`,
  // An EventBridge pattern as JSON (the template's FilterPattern); none replays every event.
  ...(FILTER_PATTERN ? { filter: FILTER_PATTERN } : {}),
  // Stop this long before the function's timeout, so the checkpoint is saved (default 60 s).
  ...(SAFETY_MARGIN_MS ? { safetyMarginMs: Number(SAFETY_MARGIN_MS) } : {}),
}))
