import type * as grpc from '@grpc/grpc-js';
import { protoRoot } from '../envoy/protos';
import { serviceDefinition } from '../envoy/grpcService';
import { buildFileDescriptors, withDependencies, type DescriptorPool } from './fileDescriptors';

/**
 * gRPC server reflection (grpc.reflection.v1 and the older v1alpha that some clients still
 * use), answered from the descriptors in fileDescriptors.ts rather than @grpc/reflection, whose
 * descriptors strict clients such as buf curl refuse to link.
 */

const REFLECTION_SERVICES = ['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];

// google.rpc.Code values used in error_response.
const INVALID_ARGUMENT = 3;
const NOT_FOUND = 5;
const INTERNAL = 13;

/** ServerReflectionRequest as decoded by protobufjs (same shape in v1 and v1alpha). */
interface ReflectionRequest {
  /** Which member of the message_request oneof is set (protobufjs's virtual oneof getter). */
  message_request?: string;
  file_by_filename?: string;
  file_containing_symbol?: string;
  file_containing_extension?: { containing_type?: string; extension_number?: number };
  all_extension_numbers_of_type?: string;
}

/** Registers both reflection services; `serviceNames` are the other services `server` serves. */
export function addReflection(server: grpc.Server, serviceNames: string[]): void {
  const listed = [...new Set([...serviceNames, ...REFLECTION_SERVICES])].map((name) => ({ name }));
  for (const name of REFLECTION_SERVICES) {
    server.addService(serviceDefinition(name), {
      ServerReflectionInfo: (call: grpc.ServerDuplexStream<ReflectionRequest, object>) => {
        // One answer per request, in order; the client ends the stream when it is done.
        call.on('data', (req: ReflectionRequest) => call.write({ original_request: req, ...answer(req, listed) }));
        call.on('end', () => call.end());
      },
    });
  }
}

function answer(req: ReflectionRequest, listed: { name: string }[]): object {
  try {
    switch (req.message_request) {
      case 'list_services':
        return { list_services_response: { service: listed } };
      case 'file_by_filename': {
        const name = req.file_by_filename ?? '';
        return descriptors().files.has(name) ? fileResponse(name) : error(NOT_FOUND, `file not found: ${name}`);
      }
      case 'file_containing_symbol': {
        const symbol = (req.file_containing_symbol ?? '').replace(/^\./, '');
        const file = descriptors().symbols.get(symbol);
        return file ? fileResponse(file) : error(NOT_FOUND, `symbol not found: ${symbol}`);
      }
      case 'file_containing_extension': {
        // Extension definitions are left out of every descriptor we serve (see fileDescriptors.ts).
        const ext = req.file_containing_extension ?? {};
        return error(NOT_FOUND, `extension not found: ${ext.containing_type ?? ''} ${ext.extension_number ?? 0}`);
      }
      case 'all_extension_numbers_of_type': {
        const type = (req.all_extension_numbers_of_type ?? '').replace(/^\./, '');
        if (!descriptors().symbols.has(type)) return error(NOT_FOUND, `type not found: ${type}`);
        return { all_extension_numbers_response: { base_type_name: type, extension_number: [] } };
      }
      default:
        return error(INVALID_ARGUMENT, 'no message_request set');
    }
  } catch (err) {
    return error(INTERNAL, err instanceof Error ? err.message : String(err));
  }
}

function error(error_code: number, error_message: string): object {
  return { error_response: { error_code, error_message } };
}

// Built on first use (tens of ms), then shared by every stream and both protocol versions.
let pool: DescriptorPool | undefined;
const responses = new Map<string, object>();

function descriptors(): DescriptorPool {
  return (pool ??= buildFileDescriptors(protoRoot()));
}

/**
 * The file and all it imports, transitively: a client can then link it without asking again.
 * Files it already has come along too; clients skip those.
 */
function fileResponse(name: string): object {
  let res = responses.get(name);
  if (!res) {
    res = { file_descriptor_response: { file_descriptor_proto: withDependencies(descriptors(), name).map((f) => f.encoded) } };
    responses.set(name, res);
  }
  return res;
}
