/** A folder of API projects as a source of GatewayEvents (the embedded default, no APIM). */
export { LocalFolderSource } from './folder';
export type { LocalFolderOptions, ScanResult } from './folder';
export { ProjectError } from './errors';
export { derivedId, loadProject, parseProject, projectOptions, readProject } from './project';
export type { ProjectOptions } from './project';
export { readProjectFolder, readProjectZip, readBareDefinition } from './files';
export type { ProjectFiles } from './files';
export { parseEndpointUrl } from './endpoints';
