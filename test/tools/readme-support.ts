/**
 * Rewrites the Supported models section of docs/supported-models.md from
 * `deeppowers support --markdown`, and the README's model-families table from the same table:
 *
 *   npx tsx test/tools/readme-support.ts
 */
import { supportTable } from '../../compiler/support/support-table';
import { formatSupportFamiliesMarkdown, formatSupportMarkdown } from '../../runtime/format/support';
import { SUPPORT_FAMILIES_SECTION, SUPPORT_SECTION, writeReadmeSection } from './readme-section';

const table = supportTable();
writeReadmeSection(SUPPORT_SECTION, formatSupportMarkdown(table));
writeReadmeSection(SUPPORT_FAMILIES_SECTION, formatSupportFamiliesMarkdown(table));
console.log('docs/supported-models.md: supported models section written; README.md: model families written');
