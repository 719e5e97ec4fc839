/** JSON-schema constrained decoding: schema -> byte-level recognizer -> per-state token masks for the sampling ops. */
export { compileJsonSchema, JsonSchemaError, type JsonSchemaOptions } from './json-schema.ts';
export { Recognizer, type RecognizerState } from './recognizer.ts';
export type { Grammar, GrammarNode } from './grammar.ts';
export { MAX_EXPONENT_DIGITS, MAX_FRACTION_DIGITS, MAX_INTEGER_DIGITS } from './decimal.ts';
export { tokenBytes, UnsupportedTokenizerError, type TokenBytes, type TokenBytesOptions, type VocabularyScheme } from './token-bytes.ts';
export { TokenTrie } from './token-trie.ts';
export { VocabularyIndex, plainCodePoints } from './vocabulary-index.ts';
export {
  ConstrainedSequence,
  JsonSchemaConstraint,
  NoAllowedTokenError,
  type ConstraintOptions,
  type ConstraintState,
  type ConstraintVocabulary,
  type JsonSchemaConstraintOptions,
} from './token-mask.ts';
