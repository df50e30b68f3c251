export * from './event-bus';
export * from './in-process-bus';
export * from './kafka-acls';
export * from './kafka-bus';
export * from './partitioner';
