// event-hydrator/opensearch: OpenSearch as a source and a sink (needs @opensearch-project/opensearch).
export { searchOpenSearch, type SearchOpenSearchOptions, type OpenSearchSource, type OpenSearchSearchClient, type OpenSearchSort, type OpenSearchCursor } from './sources/search-open-search.js'
export { toOpenSearch, type ToOpenSearchOptions, type OpenSearchBulkClient } from './sinks/to-open-search.js'
