import {
  GraphQLError,
  Kind,
  OperationTypeNode,
  type DocumentNode,
  type FormattedExecutionResult,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { getVariableValues } from 'graphql/execution/values.js';
import type { ApolloGateway } from '@apollo/gateway';
import type { ApolloServer, ApolloServerPlugin } from '@apollo/server';
import type { GatewayInterface } from '@apollo/server-gateway-interface';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { error, ErrorCode, unauthenticated } from '#lib/errors.js';
import type { PreparedSubscription, RouterContext } from './context.js';
import { estimateCost } from './demand-control.js';
import { checkScalars } from './scalars.js';
import type { SupergraphWatch } from './supergraph.js';

/**
 * The one request pipeline. Every operation, whatever carries it (HTTP, graphql-ws, SSE,
 * multipart HTTP), runs through the router's Apollo Server: the same parse options, validation
 * rules and operation limits, the plugins below, the same error masking and metrics. Apollo
 * Server hands a subscription it accepted to the gateway's executor, which cannot execute it;
 * `withSubscriptions` gives it to the transport that asked for it instead (the bridge then
 * streams its events).
 */

/** The transports that can stream a subscription, as errors name them. */
const SUBSCRIPTION_TRANSPORTS = [
  'graphql-ws (WebSocket, graphql-transport-ws) at /graphql',
  'Server-Sent Events (POST with a JSON body, Accept: text/event-stream)',
  'multipart HTTP (POST with a JSON body, Accept: multipart/mixed;subscriptionSpec="1.0")',
] as const;

/**
 * Variable values as the pipeline coerced them, by the context of their operation (Apollo
 * Server hands the gateway a copy of the request, but the same context).
 */
const coercedVariables = new WeakMap<RouterContext, Record<string, unknown>>();

export interface PolicyOptions {
  supergraph: SupergraphWatch;
  /** Operations whose estimated cost is higher are refused before anything is fetched. */
  maxCost: number;
  /** The size assumed for a list the schema gives no `@listSize`. */
  defaultListSize: number;
  /** `required`: a signed-in viewer whose email is unverified may use `UNVERIFIED_ALLOWED` only. */
  emailVerification: 'optional' | 'required';
}

/**
 * The root fields a signed-in viewer with an unverified email may use under
 * `EMAIL_VERIFICATION=required`: sign in, verify, edit the profile, read `me`, refresh and
 * log out (and the public password reset). Anything else is FORBIDDEN, reason
 * EMAIL_NOT_VERIFIED. After `verifyEmail`, `refreshToken` issues a token that says verified.
 */
const UNVERIFIED_ALLOWED: Readonly<Record<OperationTypeNode, ReadonlySet<string>>> = {
  [OperationTypeNode.QUERY]: new Set(['me', '__typename']),
  [OperationTypeNode.MUTATION]: new Set([
    'register',
    'login',
    'refreshToken',
    'logout',
    'verifyEmail',
    'requestEmailVerification',
    'updateProfile',
    'requestPasswordReset',
    'resetPassword',
    '__typename',
  ]),
  [OperationTypeNode.SUBSCRIPTION]: new Set(),
};

/** The root field names of `operation`, through fragments (a fragment cycle is invalid by now). */
function rootFields(document: DocumentNode, operation: OperationDefinitionNode): Set<string> {
  const fragments = new Map(
    document.definitions.flatMap(d =>
      d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d.selectionSet] as const] : [],
    ),
  );
  const names = new Set<string>();
  const seen = new Set<string>();
  const walk = (set: SelectionSetNode) => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) names.add(selection.name.value);
      else if (selection.kind === Kind.INLINE_FRAGMENT) walk(selection.selectionSet);
      else if (!seen.has(selection.name.value)) {
        seen.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) walk(fragment);
      }
    }
  };
  walk(operation.selectionSet);
  return names;
}

/** FORBIDDEN (EMAIL_NOT_VERIFIED) when `required` and the viewer may not use a root field. */
function checkEmailVerified(
  mode: PolicyOptions['emailVerification'],
  context: RouterContext,
  document: DocumentNode,
  operation: OperationDefinitionNode,
): void {
  if (mode !== 'required' || context.claims.userId === null) return;
  if (context.claims.emailVerified === true) return;
  const allowed = UNVERIFIED_ALLOWED[operation.operation];
  const refused = [...rootFields(document, operation)].filter(name => !allowed.has(name));
  if (refused.length === 0) return;
  throw error(
    ErrorCode.FORBIDDEN,
    `Verify your email first (verifyEmail, then refreshToken for a new access token): ${refused.join(', ')} needs a verified address`,
    { reason: 'EMAIL_NOT_VERIFIED' },
    403,
  );
}

/**
 * What the gateway does not check before it plans: the variables, coerced against the API
 * schema (a bad value is BAD_USER_INPUT naming it, not a subgraph's 400 later), and the API's
 * own scalars, inline or not (scalars.ts); the estimated
 * cost (demand control, demand-control.ts), with the variables' real values; and that a
 * subscription came where it can stream, from a signed-in viewer. Each refusal is a 4xx
 * before execution.
 */
export function operationPolicy(options: PolicyOptions): ApolloServerPlugin<RouterContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document, operation, contextValue, schema }) {
          // Apollo Server has refused a document without its operation by now.
          if (!operation) return;
          if (operation.operation === OperationTypeNode.SUBSCRIPTION) {
            if (!contextValue.subscriptions) {
              throw error(
                ErrorCode.SUBSCRIPTION_TRANSPORT_REQUIRED,
                `A subscription needs a transport that streams its events: ${SUBSCRIPTION_TRANSPORTS.join('; ')}`,
                { transports: [...SUBSCRIPTION_TRANSPORTS] },
                400,
              );
            }
            if (contextValue.claims.userId === null) throw unauthenticated(undefined, 401);
          }
          checkEmailVerified(options.emailVerification, contextValue, document, operation);
          const variables = coerce(schema, operation.variableDefinitions ?? [], request.variables);
          checkScalars(schema, document, variables);
          coercedVariables.set(contextValue, variables);
          const state = options.supergraph.current();
          if (!state) return;
          const cost = estimateCost({
            schema,
            directives: state.costs,
            document,
            operation,
            variables,
            defaultListSize: options.defaultListSize,
          });
          if (cost > options.maxCost) {
            throw error(
              ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE,
              `The operation's estimated cost ${cost} is over the limit of ${options.maxCost}: ask for smaller pages or fewer nested lists`,
              { cost: { estimated: cost, max: options.maxCost } },
              400,
            );
          }
        },
      };
    },
  };
}

type VariableDefinitions = Parameters<typeof getVariableValues>[1];

/** Coerced variables, or BAD_USER_INPUT naming the first one that is wrong. */
function coerce(
  schema: GraphQLSchema,
  definitions: VariableDefinitions,
  given: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const result = getVariableValues(schema, definitions, given ?? {}, { maxErrors: 1 });
  const [first] = result.errors ?? [];
  if (!first) return result.coerced ?? {};
  // graphql-js says where: `Variable "$input" got invalid value 1 at "input.dueDate"; …`.
  const field =
    /at "([^"]+)"/.exec(first.message)?.[1] ??
    /Variable "\$([^"]+)"/.exec(first.message)?.[1] ??
    'variables';
  throw error(ErrorCode.BAD_USER_INPUT, first.message, { field }, 400);
}

/**
 * The gateway, with its executor handing subscriptions to the transport that asked for them
 * (`RouterContext.subscriptions`) instead of failing on them: `@apollo/gateway` plans
 * subscriptions but refuses to execute them. By then the pipeline has parsed, validated,
 * priced and authorised the operation, and coerced its variables.
 */
export function withSubscriptions(gateway: ApolloGateway): GatewayInterface {
  return {
    onSchemaLoadOrUpdate: callback => gateway.onSchemaLoadOrUpdate(callback),
    stop: () => gateway.stop(),
    async load(options) {
      const { executor } = await gateway.load(options);
      return {
        executor: async requestContext => {
          if (requestContext.operation.operation !== OperationTypeNode.SUBSCRIPTION) {
            return executor(requestContext);
          }
          const context = requestContext.context as RouterContext;
          context.subscriptions?.accept({
            document: requestContext.document,
            operationName: requestContext.operationName,
            variables: coercedVariables.get(context) ?? {},
            context,
          });
          // The request itself says nothing more: the events follow on the transport.
          return {};
        },
      };
    },
  };
}

/** What the pipeline made of one operation from a streaming transport. */
export type Outcome =
  | { kind: 'subscription'; prepared: PreparedSubscription }
  | {
      kind: 'result';
      /** The HTTP status Apollo Server chose (4xx for a request refused before execution). */
      status: number;
      /** Formatted: errors masked as on HTTP. */
      result: FormattedExecutionResult;
    };

/** An operation as a transport received it. */
export interface OperationRequest {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
  extensions?: Record<string, unknown> | null;
}

/**
 * Runs one operation through the pipeline for a transport that can stream: a subscription
 * comes back prepared for the bridge, anything else as its (formatted) result.
 */
export async function runOperation(
  apollo: ApolloServer<RouterContext>,
  request: OperationRequest,
  context: RouterContext,
): Promise<Outcome> {
  let prepared: PreparedSubscription | undefined;
  const response = await apollo.executeOperation(
    {
      query: request.query,
      ...(request.operationName ? { operationName: request.operationName } : {}),
      ...(request.variables ? { variables: request.variables } : {}),
      ...(request.extensions ? { extensions: request.extensions } : {}),
    },
    {
      contextValue: {
        ...context,
        subscriptions: { accept: subscription => void (prepared = subscription) },
      },
    },
  );
  if (prepared) return { kind: 'subscription', prepared };
  if (response.body.kind !== 'single') {
    return {
      kind: 'result',
      status: 400,
      result: {
        errors: [
          new GraphQLError('Incremental delivery (@defer, @stream) is not supported here', {
            extensions: { code: ApolloServerErrorCode.BAD_REQUEST },
          }).toJSON(),
        ],
      },
    };
  }
  return {
    kind: 'result',
    status: response.http.status ?? 200,
    result: response.body.singleResult,
  };
}
