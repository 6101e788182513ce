import guild from '@theguild/prettier-config';

// The Guild's shared config, as Hive Gateway uses it: 100 columns, single quotes, trailing
// commas, sorted imports; shell scripts and the Dockerfile formatted too. Two changes: our own
// `#lib/*` imports come after the packages, before relative ones; YAML keeps double quotes,
// which is what Compose's own examples and dclint's port rule use.
export default {
  ...guild,
  overrides: [...guild.overrides, { files: '*.{yml,yaml}', options: { singleQuote: false } }],
  importOrder: ['<BUILTIN_MODULES>', '<THIRD_PARTY_MODULES>', '^(@|\\d|_)', '^#lib/', '^[.]'],
};
