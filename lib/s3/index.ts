// event-hydrator/s3: S3 as a checkpoint store, `--checkpoint s3://bucket/key` (needs @aws-sdk/client-s3).
export { s3CheckpointStore, type S3CheckpointStoreOptions } from './checkpoint.js'
export { s3Plugin } from './plugin.js'
