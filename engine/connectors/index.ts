// Kafka in and out: ingest (topic → streams), sink (streams → topic) and workers (rules over a
// keyed topic, spread by a consumer group, state checkpointed in a shared store).
export { startKafkaIngest, ingestCheckpointStream, type KafkaIngest, type KafkaIngestOptions, type KafkaIngestStats } from './kafka-ingest.js';
export { startKafkaSink, sinkCheckpointStream, readSinkCheckpoint, SINK_HEADERS, SINK_CHECKPOINT_EVENT_TYPE, type KafkaSink, type KafkaSinkOptions } from './kafka-sink.js';
export {
  startKafkaWorker,
  workerCheckpointStream,
  workerOutputId,
  type KafkaWorker,
  type KafkaWorkerOptions,
  type PartitionProcessor,
  type ProcessResult,
  type WorkerEvent,
  type WorkerOutput,
} from './kafka-worker.js';
export {
  createProjectionProcessor,
  type ProjectionRule,
  type ProjectionPartitionState,
  type ProjectionPartitionProcessor,
  type ProjectionProcessorOptions,
  type RuleCheckpoint,
} from './projection-processor.js';
export { startPartitionConsumer, readPartitionCheckpoint, CHECKPOINT_EVENT_TYPE, type PartitionConsumer, type PartitionConsumerOptions, type PartitionFold, type CommitProgress } from './partition-consumer.js';
export { compileMapping, REJECTED_RECORD_TYPE, type KafkaIngestMapping, type MappedRecord, type RejectionReason } from './record-mapping.js';
export { kafkaEventId, nameBasedUuid, type KafkaRecord, type KafkaCoordinates } from './kafka-record.js';
export { KafkaConnectorError, type ConnectorLogger, type KafkaConnection } from './kafka-client.js';
