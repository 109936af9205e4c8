// event-hydrator/s3: S3 as a checkpoint store, `--checkpoint s3://bucket/key` (needs @aws-sdk/client-s3).
export { s3CheckpointStore, type S3CheckpointStoreOptions } from './checkpoint.js'
export { toS3, type ToS3Options, type S3ObjectPreview } from './sink.js'
export { readS3, type ReadS3Options, type S3Source, type S3ObjectStats } from './source.js'
export { s3Plugin } from './plugin.js'
