// event-hydrator/opensearch: OpenSearch as a source and a sink (needs @opensearch-project/opensearch).
export { searchOpenSearch, type SearchOpenSearchOptions, type OpenSearchSource, type OpenSearchSearchClient } from './search.js'
export type { OpenSearchSort, OpenSearchCursor } from './sort.js'
export { toOpenSearch, type ToOpenSearchOptions, type OpenSearchBulkClient } from './sink.js'
export { openSearchPlugin } from './plugin.js'
