CREATE SEQUENCE "public"."outbox_publish_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "publish_seq" bigint;--> statement-breakpoint
CREATE INDEX "outbox_publish_seq_idx" ON "outbox" USING btree ("publish_seq") WHERE "outbox"."publish_seq" is not null;