import { describeUrl, redactCredentials } from './credential.redaction';
import { createExecutorLogger } from './executor.logger';

describe('redactCredentials', () => {
  it('masks the password of URLs and key/value connection strings', () => {
    expect(redactCredentials('connect postgres://app:s3cr3t@db:5432/dwh failed')).toBe(
      'connect postgres://app:****@db:5432/dwh failed',
    );
    expect(redactCredentials('postgresql://u%40x:p%2Fw@h/db and https://bob:tok@api.example.org/x')).toBe(
      'postgresql://u%40x:****@h/db and https://bob:****@api.example.org/x',
    );
    expect(redactCredentials("host=db user=app password='a b' dbname=x; pwd=zz&x=1")).toBe(
      'host=db user=app password=**** dbname=x; pwd=****&x=1',
    );
    expect(redactCredentials('postgres://app@db/dwh and http://host:8080/path')).toBe(
      'postgres://app@db/dwh and http://host:8080/path',
    );
  });

  it('is applied to every line the executor logs', () => {
    const out: string[] = [];
    const logger = createExecutorLogger('DEBUG', 'executor', (c) => out.push(c));
    logger.severe('cannot reach postgres://admin:hunter2@10.0.0.1/db');
    expect(out.join('')).toContain('postgres://admin:****@10.0.0.1/db');
    expect(out.join('')).not.toContain('hunter2');
  });
});

describe('describeUrl', () => {
  it('keeps origin and path, drops credentials and the query string', () => {
    expect(describeUrl('https://u:p@api.example.org/v1/items?token=abc')).toBe(
      'https://api.example.org/v1/items?…',
    );
    expect(describeUrl('http://127.0.0.1:8080/x')).toBe('http://127.0.0.1:8080/x');
  });
});
