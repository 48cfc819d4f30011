// Integration files run one at a time against one control plane, in a fixed order:
// alphabetical, with the 1,000-namespace test last (its namespaces are still being
// deleted by kube-controller-manager for a while afterwards, which would slow the rest).
import { BaseSequencer, type TestSpecification } from "vitest/node";

const LAST = /scale\.test\.ts$/;

export default class OrderedSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => {
      const heavy = Number(LAST.test(a.moduleId)) - Number(LAST.test(b.moduleId));
      return heavy || a.moduleId.localeCompare(b.moduleId);
    });
  }
}
