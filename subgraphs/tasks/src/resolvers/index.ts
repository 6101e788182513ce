import { DateTimeResolver } from 'graphql-scalars';
import type { Resolvers } from '../__generated__/resolvers-types.js';
import { DateScalar } from '../scalars.js';
import { Mutation } from './Mutation.js';
import { Query } from './Query.js';
import { Subscription, TaskEvent } from './Subscription.js';
import { Task } from './Task.js';
import { User } from './User.js';

export const resolvers: Resolvers = {
  DateTime: DateTimeResolver,
  Date: DateScalar,
  Query,
  Mutation,
  Subscription,
  Task,
  TaskEvent,
  User,
};
