import type { ApolloServerOptions, ApolloServerPlugin, BaseContext } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { causeOf, errorFormatter, isUnexpected } from './errors.js';
import type { RequestContext } from './http.js';
import { metricsPlugin } from './metrics.js';

/** Logs every error that `formatError` hides from the client, with the request id. */
function errorLoggingPlugin<TContext extends RequestContext>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue, operationName }) {
          for (const err of errors) {
            if (isUnexpected(err)) {
              contextValue.log.error(
                { err: causeOf(err), path: err.path, operationName },
                'unexpected error',
              );
            }
          }
        },
      };
    },
  };
}

/**
 * Options every Apollo Server here shares: the error vocabulary, CSRF prevention, no
 * stack traces, introspection only outside production. Subgraphs show no landing page:
 * they answer only signed requests from the router.
 */
export function commonApolloOptions<TContext extends RequestContext & BaseContext>(options: {
  /** Names the service in metrics. */
  service: string;
  production: boolean;
  landingPage: ApolloServerPlugin<TContext> | 'none';
}): Pick<
  ApolloServerOptions<TContext>,
  | 'formatError'
  | 'csrfPrevention'
  | 'introspection'
  | 'includeStacktraceInErrorResponses'
  | 'plugins'
  | 'stopOnTerminationSignals'
> {
  return {
    formatError: errorFormatter({ production: options.production }),
    // Our own SIGTERM handler drains in order (router, consumers, outbox, pools); Apollo's
    // would re-raise the signal and cut that short.
    stopOnTerminationSignals: false,
    csrfPrevention: true,
    introspection: !options.production,
    includeStacktraceInErrorResponses: false,
    plugins: [
      errorLoggingPlugin<TContext>(),
      metricsPlugin<TContext>(options.service),
      options.landingPage === 'none'
        ? ApolloServerPluginLandingPageDisabled()
        : options.landingPage,
    ],
  };
}
