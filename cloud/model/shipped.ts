// Where the model shipped with edgewave lies, from the sources or from the compiled dist/ tree
// (the .onnx file stays in cloud/model/ either way).

import { fileURLToPath } from 'node:url';

export const SHIPPED_MODEL = fileURLToPath(new URL('./activity-gru.onnx', import.meta.url)).replace(/\/dist\/cloud\//, '/cloud/');
