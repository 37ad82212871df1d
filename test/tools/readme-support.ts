/**
 * Rewrites the README's Supported models section from `deeppowers support --markdown`:
 *
 *   npx tsx test/tools/readme-support.ts
 */
import { supportTable } from '../../compiler/support/support-table';
import { formatSupportMarkdown } from '../../runtime/format/support';
import { SUPPORT_SECTION, writeReadmeSection } from './readme-section';

writeReadmeSection(SUPPORT_SECTION, formatSupportMarkdown(supportTable()));
console.log('README.md: supported models section written');
