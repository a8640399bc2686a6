/**
 * A large but ordinary OpenAPI 3 definition (x-wso2-* extensions, no api.yaml): `paths` paths
 * with two operations each, parameters, responses and an inline schema, as generated API
 * definitions look. About 2 KiB per path.
 */
export function bigDefinition(paths: number, title = 'Big'): string {
  const out: string[] = [
    'openapi: 3.0.1',
    `info: {title: ${title}, version: '1.0'}`,
    `x-wso2-basePath: /${title.toLowerCase()}/1.0`,
    "x-wso2-production-endpoints: {urls: ['http://127.0.0.1:8080']}",
    'paths:',
  ];
  for (let i = 0; i < paths; i++) {
    out.push(
      `  /resources${i}/{id}:`,
      '    parameters:',
      '      - name: id',
      '        in: path',
      '        required: true',
      '        schema: {type: string, format: uuid}',
      '    get:',
      `      operationId: getResource${i}`,
      `      summary: Reads resource ${i} by its identifier`,
      '      x-throttling-tier: Unlimited',
      '      responses:',
      "        '200':",
      '          description: The resource',
      '          content:',
      '            application/json:',
      '              schema:',
      '                type: object',
      '                required: [id, name]',
      '                properties:',
      '                  id: {type: string, format: uuid}',
      '                  name: {type: string, maxLength: 120}',
      '                  tags: {type: array, items: {type: string}}',
      '                  createdAt: {type: string, format: date-time}',
      "        '404': {description: Not found}",
      '    put:',
      `      operationId: putResource${i}`,
      '      requestBody:',
      '        content:',
      '          application/json:',
      '            schema: {type: object, properties: {name: {type: string}, tags: {type: array, items: {type: string}}}}',
      '      responses:',
      "        '204': {description: Updated}",
      "        '400': {description: Invalid}",
    );
  }
  return `${out.join('\n')}\n`;
}
