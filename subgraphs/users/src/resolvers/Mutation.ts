import type { MutationResolvers } from '../__generated__/resolvers-types.js';
import * as accounts from '../accounts.js';
import * as email from '../email.js';

export const Mutation: MutationResolvers = {
  register: (_parent, { input }, { deps }) => accounts.register(deps, input),
  login: (_parent, { input }, { deps, claims }) =>
    accounts.login(deps, input, claims.clientAddress),
  refreshToken: (_parent, { refreshToken }, { deps }) => accounts.refresh(deps, refreshToken),
  logout: (_parent, { refreshToken }, { deps, claims }) =>
    accounts.logout(deps, claims, refreshToken),
  updateProfile: (_parent, { input }, { deps, claims }) =>
    accounts.updateProfile(deps, claims, input),
  changePassword: (_parent, { currentPassword, newPassword }, { deps, claims }) =>
    accounts.changePassword(deps, claims, currentPassword, newPassword),
  deleteAccount: (_parent, { password }, { deps, claims }) =>
    accounts.deleteAccount(deps, claims, password),
  requestEmailVerification: (_parent, _args, { deps, claims }) =>
    email.requestEmailVerification(deps, claims),
  verifyEmail: (_parent, { code }, { deps, claims }) => email.verifyEmail(deps, claims, code),
  requestPasswordReset: (_parent, args, { deps }) => email.requestPasswordReset(deps, args.email),
  resetPassword: (_parent, args, { deps }) =>
    email.resetPassword(deps, args.email, args.code, args.newPassword),
  updateNotificationSettings: (_parent, { input }, { deps, claims }) =>
    email.updateNotificationSettings(deps, claims, input),
  setUserRole: (_parent, { userId, role }, { deps, claims }) =>
    accounts.setUserRole(deps, claims, userId, role),
};
