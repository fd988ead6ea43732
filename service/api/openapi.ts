// The OpenAPI 3.1 document, generated from the same zod schemas the routes validate with
// (OpenAPI 3.1 speaks JSON Schema 2020-12, which z.toJSONSchema writes).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ErrorBody, routesOf } from './http';

type Json = Record<string, unknown>;

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): Json {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
  delete out.$schema;
  return out;
}

/** Query and path parameters: one entry per property of the object schema. */
function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): Json[] {
  if (!schema) return [];
  const json = schemaOf(schema, 'input') as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
    schema: s,
  }));
}

export function openApiDocument(app: FastifyInstance, version: string): Json {
  const components: Record<string, Json> = { Error: schemaOf(ErrorBody, 'output') };
  const named = (name: string | undefined, schema: z.ZodType, io: 'input' | 'output'): Json => {
    if (!name) return schemaOf(schema, io);
    components[name] ??= schemaOf(schema, io);
    return { $ref: `#/components/schemas/${name}` };
  };
  const errorRef = { content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routesOf(app)) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const ok = r.response;
    const op: Json = {
      summary: r.summary,
      tags: r.tags,
      operationId: `${r.method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: named(r.names?.body, r.body, 'input') } } } } : {}),
      responses: {
        [String(r.status ?? 200)]: {
          description: ok.description,
          ...(ok.schema || ok.contentType
            ? { content: { [ok.contentType ?? 'application/json']: { schema: ok.schema ? named(r.names?.response, ok.schema, 'output') : { type: 'string' } } } }
            : {}),
        },
        ...(r.params || r.query || r.body ? { 400: { description: 'invalid request: every bad field by path', ...errorRef } } : {}),
        ...(r.auth === 'none' ? {} : {
          401: { description: 'no token, or a revoked or unknown one', ...errorRef },
          403: { description: 'the role may not do this', ...errorRef },
          429: { description: 'too many requests for this token', ...errorRef },
        }),
        ...(r.params ? { 404: { description: 'no such thing visible to this token (another tenant\'s build answers 404 too)', ...errorRef } } : {}),
      },
      ...(r.auth === 'none' ? { security: [] } : {}),
    };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'sborka',
      version,
      description: 'Builds of ALT OS distribution products: recipes, builds, logs, artifacts, license reports, schedules, webhooks.',
    },
    servers: [{ url: '/' }],
    security: [{ token: [] }],
    paths,
    components: {
      securitySchemes: { token: { type: 'http', scheme: 'bearer', description: 'a token from `sborka token create`' } },
      schemas: components,
    },
  };
}
