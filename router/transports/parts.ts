import type { GraphQLFormattedError } from 'graphql';
import type { Authenticator } from '../auth.js';
import type { ClientAddressOf } from '../client-address.js';
import type { RouterContext } from '../context.js';
import type { OperationRequest, Outcome } from '../pipeline.js';
import type { RevocationView } from '../revocations.js';
import type { SubscriptionBridge } from '../subscriptions/bridge.js';
import type { SubscriptionQuota } from '../subscriptions/quota.js';

/**
 * What every streaming transport (graphql-ws, SSE, multipart HTTP) is built from: one pipeline,
 * one bridge, one quota, one way to authenticate, so that a subscription is held to the same
 * rules however it arrives.
 */
export interface StreamingParts {
  /** Runs an operation through the request pipeline (pipeline.ts `runOperation`). */
  run: (request: OperationRequest, context: RouterContext) => Promise<Outcome>;
  bridge: SubscriptionBridge;
  quota: SubscriptionQuota;
  authenticate: Authenticator;
  /** Connections whose token is revoked end as the revocation arrives (sessions.ts). */
  revocations: RevocationView;
  clientAddress: ClientAddressOf;
  /** The pipeline's error masking, for the events the bridge streams. */
  formatError: (error: GraphQLFormattedError) => GraphQLFormattedError;
}
