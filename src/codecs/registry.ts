/**
 * Every codec a route may name (`codec:` in the config file). A new codec is
 * a folder under src/codecs/ exporting a CodecDefinition, plus one line here.
 */
import { carTelemetry } from './car-telemetry/index.js';
import type { CodecDefinition } from './codec.js';
import { lineProtocol } from './line-protocol/index.js';
import { nodeStatus } from './node-status/index.js';
import { nodeTelemetry } from './node-telemetry/index.js';
import { seed001Json } from './seed001-json/index.js';

export const CODECS: Readonly<Record<string, CodecDefinition>> = {
  [seed001Json.name]: seed001Json,
  [lineProtocol.name]: lineProtocol,
  [carTelemetry.name]: carTelemetry,
  [nodeTelemetry.name]: nodeTelemetry,
  [nodeStatus.name]: nodeStatus,
};

export const CODEC_NAMES: readonly string[] = Object.keys(CODECS);
