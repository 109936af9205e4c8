// The report's types, derived from its JSON Schema (schema.ts): one definition for both.
export type { RunReport, RunStatus, StageCount, RunCheckpoint, CheckpointTotals, ItemFailure, ReportShare, ReportShares } from './schema.js'
