// Checkpoints: the record, the tracker of the low-water mark, the writer, and where they are kept.
export { CheckpointTracker, type CheckpointTotals, type SettledEvent, type SourceCounters } from './tracker.js'
export { lockCheckpoint, type CheckpointLock, type LockHolder } from './lock.js'
export type { CheckpointStore, StoredText } from './store.js'
export type { CheckpointStoreFactory } from '../registry.js'
export { fileSession, openStoreSession, type CheckpointSession, type Lease, type StoreSessionOptions } from './session.js'
export { checkCheckpoint, parseCheckpoint, readCheckpoint, writeCheckpoint, writeCheckpointSync, type Checkpoint, type CheckpointIdentity } from './record.js'
