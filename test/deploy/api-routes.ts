/**
 * The API's routes as functions/openapi.yaml documents them, and as serverless.yml wires
 * them to functions: the deployment tests compare both, and the packaged template, with the
 * document, so a route cannot be added, renamed or dropped in one place only.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/** `POST /builds`: the method upper-case, the path as API Gateway writes it. */
export type Route = string;

export interface DocumentedRoute {
  route: Route;
  /** The logical id the integration URI names (`${SubmitBuildFunction.Arn}` gives SubmitBuildFunction). */
  functionId: string;
}

interface OpenApiOperation {
  'x-amazon-apigateway-integration'?: { uri?: { 'Fn::Sub'?: string } };
}

export function documentedRoutes(repoRoot: string): DocumentedRoute[] {
  const document = parse(readFileSync(join(repoRoot, 'functions/openapi.yaml'), 'utf8')) as { paths?: Record<string, Record<string, unknown>> };
  return Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => HTTP_METHODS.includes(method))
      .map(([method, operation]) => {
        const uri = (operation as OpenApiOperation)['x-amazon-apigateway-integration']?.uri?.['Fn::Sub'] ?? '';
        return { route: `${method.toUpperCase()} ${path}`, functionId: /\$\{(\w+)\.Arn\}/.exec(uri)?.[1] ?? '' };
      }),
  );
}

interface ServerlessFunction {
  events?: { http?: { path: string; method: string } }[];
}

/**
 * serverless.yml's http events, each with its function's logical id as the document names
 * it: `submitBuild` is SubmitBuildFunction (the framework's own id is SubmitBuildLambdaFunction).
 */
export function serverlessRoutes(repoRoot: string): DocumentedRoute[] {
  const config = parse(readFileSync(join(repoRoot, 'serverless.yml'), 'utf8')) as { functions?: Record<string, ServerlessFunction> };
  return Object.entries(config.functions ?? {}).flatMap(([name, fn]) =>
    (fn.events ?? []).flatMap((event) =>
      event.http === undefined
        ? []
        : [{ route: `${event.http.method.toUpperCase()} /${event.http.path.replace(/^\//, '')}`, functionId: `${name[0]?.toUpperCase() ?? ''}${name.slice(1)}Function` }],
    ),
  );
}

/** The logical id the framework gives the function the document calls `functionId`. */
export const frameworkFunctionId = (functionId: string): string => functionId.replace(/Function$/, 'LambdaFunction');

export const byRoute = (a: { route: Route }, b: { route: Route }): number => a.route.localeCompare(b.route);
