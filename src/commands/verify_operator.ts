/** `auth4agent verify-operator instructions | confirm`: prove the domain by DNS. */
import type { Command } from "@commander-js/extra-typings";
import { operatorIdentity } from "./identity.ts";
import type { Run } from "./registry.ts";

export function register(program: Command, run: Run): void {
  const verifyOperator = program.command("verify-operator").description(
    "prove control of the operator's domain with a DNS TXT record",
  );

  verifyOperator.command("instructions")
    .description("print the DNS TXT record to publish")
    .action((_options, command) =>
      run(command, async (ctx) => {
        const { file, signer } = await operatorIdentity(ctx);
        const { dns_record: record, verified } = await ctx.client(file.server)
          .dnsRecord(file.operator_id, signer);
        ctx.print(record, [
          `Publish this DNS TXT record for ${file.domain}:`,
          "",
          `  ${record.name}. 300 IN TXT "${record.value}"`,
          "",
          `  name:  ${record.name}`,
          `  type:  ${record.type}`,
          `  value: ${record.value}`,
          "",
          verified
            ? "The domain is already verified."
            : "Then run: auth4agent verify-operator confirm",
        ]);
      })
    );

  verifyOperator.command("confirm")
    .description(
      "ask the issuer to look the TXT record up and verify the domain",
    )
    .action((_options, command) =>
      run(command, async (ctx) => {
        const { file, signer } = await operatorIdentity(ctx);
        const status = await ctx.client(file.server).verifyDomain(
          file.operator_id,
          signer,
        );
        ctx.print(
          status,
          `Domain ${status.domain} verified for operator ${status.operator_id}.`,
        );
      })
    );

  verifyOperator.command("status")
    .description(
      "show whether and when the domain was verified, and the record still expected",
    )
    .action((_options, command) =>
      run(command, async (ctx) => {
        const { file, signer } = await operatorIdentity(ctx);
        const status = await ctx.client(file.server).dnsRecord(
          file.operator_id,
          signer,
        );
        ctx.print(status, [
          `domain:   ${status.domain}`,
          `verified: ${
            status.verified ? `yes, at ${status.verified_at}` : "no"
          }`,
          `record:   ${status.dns_record.name} TXT "${status.dns_record.value}"`,
        ]);
      })
    );
}
