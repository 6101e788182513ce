import type { GraphQLFormattedError } from 'graphql';
import type { ApolloServerPlugin } from '@apollo/server';
import { ErrorCode } from '#lib/errors.js';
import type { RouterContext } from './context.js';
import { mutationRan } from './idempotency.js';

const isUnavailable = (error: GraphQLFormattedError) =>
  error.extensions?.code === ErrorCode.SERVICE_UNAVAILABLE;

/**
 * HTTP 503 with `Retry-After` for an operation of which nothing could run because what it
 * needs is unavailable for now: every error is SERVICE_UNAVAILABLE and no root field has a
 * value, and no mutation ran. An answer with some data stays 200 (the client keeps what the
 * other subgraphs answered, with the error on the fields that failed).
 */
export function unavailableStatus(): ApolloServerPlugin<RouterContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue }) {
          if (response.body.kind !== 'single') return;
          // A mutation that ran is not "nothing could run", even when a non-null field it asked
          // of a subgraph that is down nulled all of `data`: a blind retry would run it again.
          if (mutationRan(contextValue)) return;
          const { errors, data } = response.body.singleResult;
          if (!errors?.length || !errors.every(isUnavailable)) return;
          if (data && Object.values(data).some(value => value !== null)) return;
          const retryAfter = Math.max(1, ...errors.map(e => Number(e.extensions?.retryAfter) || 1));
          response.http.status = 503;
          response.http.headers.set('retry-after', String(retryAfter));
        },
      };
    },
  };
}
