/**
 * `GET /`: the dashboard (web/, built by Vite into dist/web) for browsers,
 * its assets under `/assets/`; JSON for a client whose Accept header asks for
 * application/json and not text/html. When the dashboard is not built (a
 * checkout without `npm run build`), browsers get a plain page of links
 * instead. The JSON and that page link the OpenAPI document, the service
 * endpoints and every route of the API (as registered, so the list cannot go
 * stale).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, RouteOptions } from 'fastify';

export interface ApiRouteLink {
  method: string;
  url: string;
  summary?: string;
}

/** The service endpoints, not in the OpenAPI document. */
export const SERVICE_LINKS = {
  openapi: { url: '/api/openapi.json', title: 'OpenAPI 3.1 document of the HTTP API' },
  health: { url: '/healthz', title: 'Liveness: 200 while the process runs' },
  ready: { url: '/readyz', title: 'Readiness: 200 when the store answers, else 503 with the problems' },
  metrics: { url: '/metrics', title: 'Prometheus metrics' },
} as const;

/** Collects the public routes (those in the OpenAPI document) from Fastify's onRoute hook. */
export function collectApiRoutes(into: ApiRouteLink[]): (route: RouteOptions) => void {
  return (route) => {
    if (route.schema?.hide) return;
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      if (method === 'HEAD') continue; // Fastify's automatic HEAD for each GET
      // Written as the OpenAPI document and docs/http-api.md write it: /trips/{id}, not Fastify's /trips/:id.
      into.push({ method, url: route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}'), summary: route.schema?.summary as string | undefined });
    }
  };
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** JSON only when asked for and HTML is not (browsers list text/html first; curl sends *\/*). */
export function wantsJson(accept: string | undefined): boolean {
  if (!accept) return false;
  const types = accept.split(',').map((t) => t.split(';')[0].trim().toLowerCase());
  return types.includes('application/json') && !types.includes('text/html');
}

function page(api: ApiRouteLink[]): string {
  const service = Object.values(SERVICE_LINKS)
    .map((l) => `<li><a href="${l.url}"><code>${l.url}</code></a> — ${escape(l.title)}</li>`)
    .join('\n');
  const routes = api.map((r) => `<li><code>${r.method} ${escape(r.url)}</code>${r.summary ? ` — ${escape(r.summary)}` : ''}</li>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>telehub</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}code{font-size:.95em}</style></head>
<body>
<h1>telehub</h1>
<p>Self-hosted telemetry pipeline. The dashboard is not built in this checkout (<code>npm run build</code> builds it); until then, these are the ways in.</p>
<h2>Service</h2>
<ul>
${service}
</ul>
<h2>API</h2>
<p>Described in the <a href="${SERVICE_LINKS.openapi.url}">OpenAPI document</a>; the routes need a token (<code>Authorization: Bearer …</code>, see <code>telehub tokens create</code>).</p>
<ul>
${routes || '<li>No API routes are enabled.</li>'}
</ul>
</body>
</html>
`;
}

export const registerHomeRoute: FastifyPluginAsync<{ api: ApiRouteLink[]; webRoot?: string }> = async (app, { api, webRoot }) => {
  const built = webRoot !== undefined && existsSync(path.join(webRoot, 'index.html'));
  if (built) {
    // Vite puts every asset under assets/ with a content hash in its name: cache them for good.
    await app.register(fastifyStatic, { root: path.join(webRoot, 'assets'), prefix: '/assets/', index: false, immutable: true, maxAge: '365d' });
  }
  app.get('/', { schema: { hide: true } }, async (req, reply) => {
    reply.header('vary', 'Accept');
    if (wantsJson(req.headers.accept)) {
      return { name: 'telehub', links: Object.fromEntries(Object.entries(SERVICE_LINKS).map(([k, v]) => [k, v.url])), api };
    }
    // index.html is small and names the current asset hashes: never cached.
    if (built) return reply.header('cache-control', 'no-cache').sendFile('index.html', webRoot);
    return reply.type('text/html; charset=utf-8').send(page(api));
  });
};
