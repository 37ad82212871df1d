/**
 * The model families the compiler is built for, each with the operators its exports consist of.
 * The support table checks every named operator against the registries (a test fails on a family
 * that names an operator no compiled model can hold), so this list can only claim what the
 * passes accept; which exports were actually measured is the per-fixture table in docs/supported-models.md.
 */
export interface ModelFamily {
  readonly family: string;
  /** What exports it, in the frameworks' own names. */
  readonly examples: string;
  /** `domain::OpType` (the default domain is `ai.onnx`), each held encrypted or run by the client. */
  readonly operators: readonly string[];
  /** Where the encrypted part ends, or what runs on the client. */
  readonly note: string;
}

export const MODEL_FAMILIES: readonly ModelFamily[] = [
  {
    family: 'Linear models',
    examples:
      'scikit-learn LinearRegression, Ridge, Lasso, ElasticNet, LinearSVR, LogisticRegression (binary, multinomial and one-vs-rest), LinearSVC, RidgeClassifier, SGDClassifier (every loss), Perceptron, PassiveAggressiveClassifier; torch Linear',
    operators: ['ai.onnx.ml::LinearClassifier', 'ai.onnx.ml::LinearRegressor', 'ai.onnx::Gemm', 'ai.onnx::MatMul', 'ai.onnx::Add'],
    note: 'the encrypted part ends at the scores; labels and probabilities (Softmax, Sigmoid, ZipMap) are computed by the client after decryption',
  },
  {
    family: 'Generalized linear models',
    examples: 'scikit-learn PoissonRegressor, GammaRegressor, TweedieRegressor',
    operators: ['ai.onnx.ml::LinearRegressor', 'ai.onnx::MatMul', 'ai.onnx::Exp'],
    note: 'the linear score is encrypted; the client applies the inverse link (Exp) exactly after decryption',
  },
  {
    family: 'Preprocessing in pipelines',
    examples: 'scikit-learn StandardScaler, MinMaxScaler, RobustScaler, PCA, Normalizer',
    operators: ['ai.onnx.ml::Scaler', 'ai.onnx::Sub', 'ai.onnx::MatMul', 'ai.onnx.ml::Normalizer'],
    note: 'scalers and PCA fold into the first encrypted affine map; Normalizer needs the whole clear row and runs on the client before encryption',
  },
  {
    family: 'Multilayer perceptrons',
    examples: 'scikit-learn MLPClassifier, MLPRegressor; torch Sequential of Linear, BatchNorm1d and the activations below',
    operators: ['ai.onnx::Gemm', 'ai.onnx::MatMul', 'ai.onnx::BatchNormalization', 'ai.onnx::Relu', 'ai.onnx::Tanh', 'ai.onnx::Sigmoid'],
    note: 'each activation becomes a polynomial fitted on its calibrated input range (see the activation table)',
  },
  {
    family: 'Convolutional networks',
    examples: 'torch Conv1d and Conv2d (stride, padding, groups), AvgPool2d, AdaptiveAvgPool2d, MaxPool1d and MaxPool2d, BatchNorm2d, Flatten',
    operators: ['ai.onnx::Conv', 'ai.onnx::AveragePool', 'ai.onnx::GlobalAveragePool', 'ai.onnx::MaxPool', 'ai.onnx::Pad', 'ai.onnx::BatchNormalization', 'ai.onnx::Flatten', 'ai.onnx::Reshape'],
    note: 'convolutions and average pooling are affine maps of the flattened sample; activations as for perceptrons; each MaxPool is a client step between two circuits: the client takes the max of each window of masked values (it learns each window\'s order, see docs/compiling.md)',
  },
  {
    family: 'Transformers',
    examples:
      'torch nn.MultiheadAttention, nn.TransformerEncoderLayer and attention written out (Linear q/k/v, MatMul, Softmax, Transpose/Reshape into heads); LayerNorm as LayerNormalization (opset 17) or ReduceMean/Sub/Pow/Sqrt/Div (opset 14); GELU or ReLU feed-forward; nn.Embedding on token ids (Gather)',
    operators: [
      'ai.onnx::MatMul', 'ai.onnx::Softmax', 'ai.onnx::LayerNormalization', 'ai.onnx::ReduceMean', 'ai.onnx::Sub', 'ai.onnx::Pow', 'ai.onnx::Sqrt', 'ai.onnx::Div',
      'ai.onnx::Transpose', 'ai.onnx::Reshape', 'ai.onnx::Gather', 'ai.onnx::Erf', 'ai.onnx::Relu', 'ai.onnx::Add', 'ai.onnx::Mul',
    ],
    note: 'the server runs every block: Q·Kᵀ and the attention weights times V multiply two ciphertexts; Softmax and LayerNorm are polynomials on calibrated ranges (exp, 1/x and 1/√x refined by Newton steps), or with `compile --on-client softmax,layernorm` exact client steps masked per row (the client then learns each attention pattern and normalized hidden state); Transpose and Reshape that move the batch axis are followed; an embedding is the client\'s encrypted one-hot of its token ids times the server\'s table; where depth runs out the body is cut and the client refreshes masked values between segments. `compile` refuses one whose keys and ciphertexts exceed node-seal\'s heap (which of the fixtures fit: README, Transformers)',
  },
  {
    family: 'Tree ensembles',
    examples: 'scikit-learn DecisionTree, RandomForest, ExtraTrees; XGBoost through onnxmltools',
    operators: ['ai.onnx.ml::TreeEnsembleClassifier', 'ai.onnx.ml::TreeEnsembleRegressor'],
    note: 'the client encodes each feature as bits against the trees\' thresholds before encryption; the server computes the leaf indicators and sums the leaf values; base values and the label on the client',
  },
];
