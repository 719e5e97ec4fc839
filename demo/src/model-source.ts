/** What the `model` URL parameter (or the model picker's text) names, as the engine's ModelSource. */
import type { ModelSource } from '../../runtime-browser/engine/api.ts';
import { parseHubId } from '../../src/model/hub-protocol.ts';
import { BUNDLED_MODEL_DIR, BUNDLED_MODEL_LOADED_FILES, bundledUrl } from './bundled-files.ts';

export const BUNDLED_MODEL_NAME = 'stories260K';

/** The bundled stories260K, served beside the page. */
export function bundledModel(): ModelSource {
  return { kind: 'url', url: bundledUrl(BUNDLED_MODEL_DIR), files: [...BUNDLED_MODEL_LOADED_FILES] };
}

/**
 * 'stories260K' -> the bundled model; an http(s) URL or a path (./x, /x) -> a model directory served there;
 * otherwise a hub id org/name[@revision]. Throws a one-line message for anything else.
 */
export function modelSource(text: string): ModelSource {
  const t = text.trim();
  if (t === BUNDLED_MODEL_NAME) return bundledModel();
  if (/^https?:\/\//i.test(t) || t.startsWith('./') || t.startsWith('/')) {
    const url = new URL(t.endsWith('/') ? t : `${t}/`, document.baseURI).href;
    return { kind: 'url', url };
  }
  try {
    const id = parseHubId(t);
    return { kind: 'hub', id: id.repo, revision: id.revision };
  } catch {
    throw new Error(
      `model "${t}" is neither ${BUNDLED_MODEL_NAME}, a URL of a model directory, nor a Hugging Face hub id like meta-llama/Llama-3.2-1B-Instruct`,
    );
  }
}

/** A name for messages. */
export function sourceName(src: ModelSource): string {
  if (src.kind === 'hub') return src.revision && src.revision !== 'main' ? `${src.id}@${src.revision}` : src.id;
  if (src.kind === 'url') return src.url === bundledUrl(BUNDLED_MODEL_DIR) ? BUNDLED_MODEL_NAME : src.url;
  return src.files[0]?.webkitRelativePath.split('/')[0] || `${src.files.length} local files`;
}
