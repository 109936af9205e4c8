// event-hydrator/dynamo: DynamoDB as a source and a sink (needs @aws-sdk/client-dynamodb).
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
} from './scan.js'
export { queryDynamo, parseSortKeyCondition, type QueryDynamoOptions, type KeyCondition, type SortKeyCondition } from './query.js'
export { toDynamo, itemSizeBytes, MAX_ITEM_BYTES, type ToDynamoOptions, type DynamoWrite } from './sink.js'
export { dynamoPlugin } from './plugin.js'
