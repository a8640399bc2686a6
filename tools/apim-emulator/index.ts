/** APIM emulator: a test double for WSO2 API Manager's control-plane side (REST + AMQP events). */
export * from './emulator';
export * from './events';
export { gsonJson, plainJson, b64 } from './gson';
export type { PublishedEvent, PauseMode } from './publisher';
export { defaultMessageProperties } from './publisher';
export type { RestRequestRecord, RestFault, DeployAck, UndeployAck } from './rest';
export { ARTIFACT_VERSION, operationsFromDefinition } from './artifacts';
export type * from './model';
