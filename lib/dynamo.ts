// event-hydrator/dynamo: DynamoDB as a source and a sink (needs @aws-sdk/client-dynamodb and @aws-sdk/lib-dynamodb).
export {
  scanDynamo,
  type ScanDynamoOptions,
  type DynamoReadOptions,
  type DynamoSource,
  type DynamoCursor,
  type DynamoUnwrap,
  type DynamoClient,
  type DynamoKey,
  type SegmentChoice,
} from './sources/scan-dynamo.js'
export { queryDynamo, parseSortKeyCondition, type QueryDynamoOptions, type KeyCondition, type SortKeyCondition } from './sources/query-dynamo.js'
export { toDynamo, itemSizeBytes, MAX_ITEM_BYTES, type ToDynamoOptions, type DynamoWrite } from './sinks/to-dynamo.js'
