import { InputError, AppError } from '@im/errors';
import type { NextFunction, Request, Response } from 'express';

export interface JsonBodyOptions {
  /** Largest body accepted, in bytes. */
  limit?: number;
  /** Accept an empty body as `{}` (e.g. an optional run request). */
  allowEmpty?: boolean;
}

/** Line and column (1-based) of a zero-based character position. */
export function lineAndColumn(text: string, position: number): { line: number; column: number } {
  let line = 1;
  let col = 1;
  for (let i = 0; i < position && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      col = 1;
    } else col++;
  }
  return { line, column: col };
}

/** Parses JSON, turning a syntax error into a 400 that names the line and column of the first error. */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const m = /position (\d+)/.exec(message);
    const position = m ? Number(m[1]) : text.length;
    const { line, column } = lineAndColumn(text, position);
    const reason = message
      .replace(/\s*in JSON at position \d+.*$/s, '')
      .replace(/^Unexpected end of JSON input$/, 'Unexpected end of input');
    throw new InputError(
      `The request body is not valid JSON: ${reason} at line ${line}, column ${column}. Fix the JSON and send it again.`,
      [{ path: '', message: `${reason} at line ${line}, column ${column}` }],
      'MALFORMED_JSON',
    );
  }
}

function isJsonish(contentType: string): boolean {
  return /^application\/([\w.+-]*\+)?json\b/i.test(contentType) || /^text\/json\b/i.test(contentType);
}

/**
 * Reads a JSON body. Tolerant where the original product's clients need it: a JSON document sent with
 * `multipart/form-data` (as the original tutorial shows) or with no content type is read as JSON.
 */
export function jsonBody(options: JsonBodyOptions = {}) {
  const limit = options.limit ?? 1024 * 1024;
  return async (req: Request, _res: Response, next: NextFunction): Promise<void> => {
    const contentType = req.headers['content-type'] ?? '';
    const text = await readText(req, limit);
    if (text.trim() === '') {
      if (options.allowEmpty) {
        req.body = {};
        return next();
      }
      throw new InputError('The request body is empty; send a JSON document.', [
        { path: '', message: 'required' },
      ]);
    }
    const looksLikeJson = /^\s*[{[]/.test(text);
    if (
      !isJsonish(contentType) &&
      !(
        contentType === '' ||
        (/^(multipart\/form-data|text\/plain|application\/x-www-form-urlencoded)\b/i.test(contentType) &&
          looksLikeJson)
      )
    ) {
      throw new AppError(
        'UNSUPPORTED_MEDIA_TYPE',
        `Send the body as application/json (got ${contentType || 'no content type'}).`,
      );
    }
    req.body = parseJsonText(text);
    next();
  };
}

async function readText(req: Request, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit)
    throw new AppError('PAYLOAD_TOO_LARGE', `The JSON body is larger than ${limit} bytes.`);
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new AppError('PAYLOAD_TOO_LARGE', `The JSON body is larger than ${limit} bytes.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/^\uFEFF/, '');
}
