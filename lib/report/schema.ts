/**
 * The JSON Schema (draft 2020-12) of {@link RunReport}, for tools that read `--report json`.
 *
 * @example
 * new Ajv2020().compile(reportSchema)(JSON.parse(stdout))
 */
export const reportSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://github.com/event-hydrator/event-hydrator/report.schema.json',
  title: 'event-hydrator run report',
  type: 'object',
  required: ['status', 'dryRun', 'startedAt', 'finishedAt', 'durationMs', 'source', 'filter', 'sink', 'failures', 'stages', 'eventsPerSecond'],
  additionalProperties: false,
  $defs: {
    count: { type: 'integer', minimum: 0 },
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
    position: {
      type: 'object',
      required: ['source'],
      properties: {
        source: { type: 'string' },
        file: { type: 'string' },
        line: { type: 'integer', minimum: 1 },
        offset: { type: 'integer', minimum: 0 },
        next: { type: 'integer', minimum: 0 },
        index: { type: 'integer', minimum: 0 },
        key: {},
        sort: { type: 'array' },
        part: { type: 'integer', minimum: 0 },
        cursor: {},
      },
    },
    failure: {
      type: 'object',
      required: ['stage', 'code', 'message'],
      properties: {
        stage: { type: 'string' },
        position: { $ref: '#/$defs/position' },
        code: { type: 'string' },
        message: { type: 'string' },
        key: {},
        attempts: { type: 'integer', minimum: 1 },
      },
    },
  },
  properties: {
    status: { enum: ['ok', 'partial', 'failed', 'aborted'] },
    dryRun: { type: 'boolean' },
    startedAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: 'string', format: 'date-time' },
    durationMs: { type: 'number', minimum: 0 },
    source: {
      type: 'object',
      required: ['uri', 'read', 'failed'],
      properties: {
        uri: { type: 'string' },
        read: { $ref: '#/$defs/count' },
        failed: { $ref: '#/$defs/count' },
        startedAt: { $ref: '#/$defs/position' },
      },
    },
    filter: {
      type: 'object',
      required: ['matched', 'unmatched', 'prefiltered'],
      properties: {
        matched: { $ref: '#/$defs/count' },
        unmatched: { $ref: '#/$defs/count' },
        prefiltered: { $ref: '#/$defs/count' },
      },
    },
    sink: {
      type: 'object',
      required: ['uri', 'received', 'written', 'skipped', 'failed', 'deleted', 'previews', 'retries'],
      properties: {
        uri: { type: 'string' },
        received: { $ref: '#/$defs/count' },
        written: { $ref: '#/$defs/count' },
        skipped: { $ref: '#/$defs/count' },
        failed: { $ref: '#/$defs/count' },
        deleted: { $ref: '#/$defs/count' },
        previews: { type: 'array' },
        retries: { type: 'object', additionalProperties: { $ref: '#/$defs/count' } },
      },
    },
    failures: {
      type: 'object',
      required: ['count', 'samples'],
      properties: {
        count: { $ref: '#/$defs/count' },
        samples: { type: 'array', items: { $ref: '#/$defs/failure' }, maxItems: 100 },
      },
    },
    stages: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'kind', 'in', 'out'],
        properties: {
          name: { type: 'string' },
          kind: { type: 'string' },
          in: { $ref: '#/$defs/count' },
          out: { $ref: '#/$defs/count' },
          failed: { $ref: '#/$defs/count' },
        },
      },
    },
    eventsPerSecond: { type: 'number', minimum: 0 },
    error: { $ref: '#/$defs/error' },
    checkpoint: {
      type: 'object',
      required: ['file', 'complete', 'held', 'totals'],
      properties: {
        file: { type: 'string' },
        position: { $ref: '#/$defs/position' },
        complete: { type: 'boolean' },
        held: { $ref: '#/$defs/count' },
        totals: {
          type: 'object',
          required: ['read', 'matched', 'unmatched', 'written', 'skipped', 'failed', 'sourceFailed'],
          properties: {
            read: { $ref: '#/$defs/count' },
            matched: { $ref: '#/$defs/count' },
            unmatched: { $ref: '#/$defs/count' },
            written: { $ref: '#/$defs/count' },
            skipped: { $ref: '#/$defs/count' },
            failed: { $ref: '#/$defs/count' },
            sourceFailed: { $ref: '#/$defs/count' },
          },
        },
        error: { $ref: '#/$defs/error' },
      },
    },
  },
} as const
